using CdcPipeline.Core.Configuration;

namespace CdcPipeline.Core.Sinks;

/// <summary><c>console: {}</c> — one JSON line per event on standard output.</summary>
public sealed class ConsoleSinkFactory : ISinkFactory
{
    public string Kind => "console";

    public void Validate(PipelineComponentContext context) => Check(context);

    public ISink Create(PipelineComponentContext context)
    {
        Check(context);
        return new ConsoleSink(context.Name);
    }

    /// <summary>What <see cref="Create"/> refuses.</summary>
    private static void Check(PipelineComponentContext context)
    {
        if (context.Section.GetChildren().Any())
        {
            throw context.Error("", "a console sink takes no settings: write 'console: {}'");
        }
    }
}

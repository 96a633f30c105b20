using CdcPipeline.Core.Configuration;

namespace CdcPipeline.Core.Sinks;

/// <summary><c>console: {}</c> — one JSON line per event on standard output.</summary>
public sealed class ConsoleSinkFactory : ISinkFactory
{
    public string Kind => "console";

    public ISink Create(PipelineComponentContext context)
    {
        if (context.Section.GetChildren().Any())
        {
            throw context.Error("", "a console sink takes no settings: write 'console: {}'");
        }

        return new ConsoleSink(context.Name);
    }
}

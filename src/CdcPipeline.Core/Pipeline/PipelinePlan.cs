using CdcPipeline.Core.Configuration;
using CdcPipeline.Core.Translation;
using Microsoft.Extensions.Configuration;

namespace CdcPipeline.Core.Pipeline;

/// <summary>
/// A pipeline's configuration after <see cref="PipelineBuilder.Validate"/> checked all of it (the source's, the dead
/// letters' and every sink's own checks), before anything is made: <see cref="PipelineBuilder.Build(PipelinePlan)"/> makes it.
/// </summary>
public sealed class PipelinePlan
{
    internal PipelinePlan(
        PipelineConfiguration configuration,
        IServiceProvider services,
        IChangeTranslator translator,
        ISourceFactory sourceFactory,
        PipelineComponentContext sourceContext,
        IDeadLetterQueueFactory? deadLetterFactory,
        IReadOnlyList<(SinkCommonOptions Common, ISinkFactory Factory, IConfigurationSection Section)> sinks)
    {
        Configuration = configuration;
        Services = services;
        Translator = translator;
        SourceFactory = sourceFactory;
        SourceContext = sourceContext;
        DeadLetterFactory = deadLetterFactory;
        Sinks = sinks;
    }

    public PipelineConfiguration Configuration { get; }

    internal IServiceProvider Services { get; }

    internal IChangeTranslator Translator { get; }

    internal ISourceFactory SourceFactory { get; }

    internal PipelineComponentContext SourceContext { get; }

    internal IDeadLetterQueueFactory? DeadLetterFactory { get; }

    internal IReadOnlyList<(SinkCommonOptions Common, ISinkFactory Factory, IConfigurationSection Section)> Sinks { get; }
}

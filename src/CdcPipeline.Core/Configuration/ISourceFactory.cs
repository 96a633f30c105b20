using CdcPipeline.Core.Pipeline;

namespace CdcPipeline.Core.Configuration;

/// <summary>Makes the pipeline's source from <c>source.&lt;Kind&gt;</c> (<c>postgres</c> or <c>kafka</c>).</summary>
public interface ISourceFactory
{
    string Kind { get; }

    IChangeSource Create(PipelineComponentContext context);
}

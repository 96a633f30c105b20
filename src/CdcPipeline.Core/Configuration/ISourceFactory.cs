using CdcPipeline.Core.Pipeline;

namespace CdcPipeline.Core.Configuration;

/// <summary>Makes the pipeline's source from <c>source.&lt;Kind&gt;</c> (<c>postgres</c> or <c>kafka</c>).</summary>
public interface ISourceFactory
{
    string Kind { get; }

    /// <summary>
    /// Checks the section as far as that needs nothing built or connected (throw <see cref="ConfigurationException"/>). The
    /// pipeline calls it before it builds any sink, with the context <see cref="Create"/> gets but for its dead-letter
    /// queue: building a sink may already leave a trace (a batch sink takes its spool), and a refused start leaves none.
    /// </summary>
    void Validate(PipelineComponentContext context)
    {
    }

    IChangeSource Create(PipelineComponentContext context);
}

using CdcPipeline.Core.Sinks;

namespace CdcPipeline.Core.Configuration;

/// <summary>
/// Makes sinks of one kind from their configuration section (<c>sinks[i].&lt;Kind&gt;</c>). Register
/// implementations in DI; the pipeline picks the one whose <see cref="Kind"/> names the sink's section.
/// </summary>
public interface ISinkFactory
{
    /// <summary>The YAML key of this sink kind: <c>file</c>, <c>kafka</c>, <c>webhook</c>, …</summary>
    string Kind { get; }

    /// <summary>
    /// Checks the section as far as that needs nothing built or connected (throw <see cref="ConfigurationException"/>):
    /// what <see cref="Create"/> would refuse. The pipeline calls it for every sink before it builds any, as it does
    /// <see cref="ISourceFactory.Validate"/>: building a sink may already leave a trace (a batch sink takes its spool),
    /// and a refused start leaves none.
    /// </summary>
    void Validate(PipelineComponentContext context)
    {
    }

    /// <summary>Validates the section (throw <see cref="ConfigurationException"/>; <see cref="ConfigBinding"/> helps) and creates the sink.</summary>
    ISink Create(PipelineComponentContext context);

    /// <summary>
    /// The directories this sink keeps state in that must not be another sink's (see <see cref="ExclusiveDirectory"/>):
    /// the pipeline checks them across its sinks before creating any. Validates only what it needs to resolve them.
    /// </summary>
    IEnumerable<ExclusiveDirectory> ExclusiveDirectories(PipelineComponentContext context) => [];
}

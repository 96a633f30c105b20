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

    /// <summary>Validates the section (throw <see cref="ConfigurationException"/>; <see cref="ConfigBinding"/> helps) and creates the sink.</summary>
    ISink Create(PipelineComponentContext context);
}

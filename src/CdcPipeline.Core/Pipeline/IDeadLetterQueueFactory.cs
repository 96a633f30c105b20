using CdcPipeline.Core.Configuration;
using CdcPipeline.Core.Sinks;

namespace CdcPipeline.Core.Pipeline;

/// <summary>Makes the dead-letter destination when <c>deadLetter.topic</c> is set (the Kafka project provides it).</summary>
public interface IDeadLetterQueueFactory
{
    /// <summary>
    /// Checks what <see cref="Create"/> would refuse, building nothing (throw <see cref="ConfigurationException"/>): the
    /// pipeline calls it before it builds any sink, as it does <see cref="Configuration.ISourceFactory.Validate"/>.
    /// </summary>
    void Validate(PipelineConfiguration configuration)
    {
    }

    IDeadLetterQueue Create(PipelineConfiguration configuration, IServiceProvider services);
}

using CdcPipeline.Core.Configuration;
using CdcPipeline.Core.Sinks;

namespace CdcPipeline.Core.Pipeline;

/// <summary>Makes the dead-letter destination when <c>deadLetter.topic</c> is set (the Kafka project provides it).</summary>
public interface IDeadLetterQueueFactory
{
    IDeadLetterQueue Create(PipelineConfiguration configuration, IServiceProvider services);
}

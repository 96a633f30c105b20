using CdcPipeline.Core.Sinks;
using Confluent.Kafka;

namespace CdcPipeline.Kafka;

/// <summary>
/// The Kafka sink's failures the cluster caused (a broker down, a delivery that failed or timed out), logged by the runner
/// without a stack trace. librdkafka's local errors for a call the code got wrong stay bugs, as for <c>run</c>'s exit code.
/// </summary>
internal sealed class KafkaClientFailures : IExpectedDeliveryFailures
{
    public bool IsExpected(Exception error) =>
        error is KafkaException k && k.Error.Code is not (ErrorCode.Local_InvalidArg or ErrorCode.Local_State);
}

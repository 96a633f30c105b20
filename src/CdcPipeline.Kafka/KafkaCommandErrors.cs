using Confluent.Kafka;
using Confluent.Kafka.Admin;

namespace CdcPipeline.Kafka;

/// <summary>
/// Operator commands (<c>replay</c>, <c>dlq</c>) talk to the cluster once and exit, so a failure has to be one
/// line that says what to check. An unreachable cluster surfaces from librdkafka as a transport failure, "all
/// brokers down" or a time-out, and from the admin API wrapped in a result exception ("An error occurred
/// describing consumer groups: [g]: [Local: Timed out]. (Local_Partial)"), so this looks at both.
/// </summary>
public static class KafkaCommandErrors
{
    private static readonly HashSet<ErrorCode> Unreachable =
    [
        ErrorCode.Local_Transport, ErrorCode.Local_AllBrokersDown, ErrorCode.Local_TimedOut,
        ErrorCode.Local_TimedOutQueue, ErrorCode.Local_Resolve,
    ];

    /// <summary>One line for <paramref name="error"/>, naming <paramref name="servers"/> and what to check when they could not be reached.</summary>
    /// <param name="clientLog">The clients' last warning (<see cref="ClientLogTail"/>): a refused connection, a failed TLS handshake and a
    /// failed SASL authentication all end as the same transport failure, and only librdkafka's log says which it was.</param>
    public static string Describe(KafkaException error, string servers, ClientLogTail? clientLog = null)
    {
        if (Errors(error).FirstOrDefault(e => Unreachable.Contains(e.Code)) is { } unreachable)
        {
            var said = clientLog?.Last is { } last ? $"; librdkafka: {last}" : "";
            return $"could not reach Kafka at {servers} ({unreachable.Reason}{said}). Check --bootstrap-servers, the security settings (security.protocol, sasl.*, ssl.*), "
                + "the network, and that the brokers are up (docker compose ps kafka).";
        }

        return $"Kafka error: {error.Error.Reason} ({error.Error.Code})";
    }

    private static IEnumerable<Error> Errors(KafkaException error)
    {
        yield return error.Error;
        var inner = error switch
        {
            DescribeConsumerGroupsException e => e.Results.ConsumerGroupDescriptions.Select(d => d.Error),
            ListConsumerGroupOffsetsException e => e.Results.Select(r => r.Error),
            AlterConsumerGroupOffsetsException e => e.Results.Select(r => r.Error),
            _ => [],
        };
        foreach (var e in inner)
        {
            yield return e;
        }
    }
}

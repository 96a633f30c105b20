namespace CdcPipeline.Kafka.Connect;

/// <summary>A Kafka Connect REST call failed; the message says what to check (or carries Connect's own error message).</summary>
public sealed class KafkaConnectException : Exception
{
    public KafkaConnectException(string message, int? statusCode = null, Exception? inner = null)
        : base(message, inner)
    {
        StatusCode = statusCode;
    }

    public int? StatusCode { get; }
}

namespace CdcPipeline.Core.Sinks;

/// <summary>
/// Which of a sink client library's exceptions describe the remote end refusing a delivery or not being reachable (a server
/// error, a broker closing the channel, a lost connection): an operator's matter, not a bug. The runner logs such a failure's
/// retries and its dead letter in one line — the message, its causes' messages, the exception's type as a field — and keeps
/// the stack trace for debug level. Registered by the library that knows the types (<c>AddCdcSinks</c>, <c>AddCdcKafka</c>);
/// the .NET types every sink throws (<see cref="HttpRequestException"/>, a socket or I/O error, a time-out, an ADO.NET
/// provider's error) are known to the runner without one.
/// </summary>
public interface IExpectedDeliveryFailures
{
    bool IsExpected(Exception error);
}

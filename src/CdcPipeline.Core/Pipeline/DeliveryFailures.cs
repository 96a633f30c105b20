using System.Data.Common;
using System.Net.Sockets;
using CdcPipeline.Core.Sinks;

namespace CdcPipeline.Core.Pipeline;

/// <summary>
/// Tells a sink's expected failure (the remote end answered no, or did not answer) from a bug in our code, for how the
/// runner logs it: the one without a stack trace, the other with it. Only the log differs: retries, dead letters and
/// policies treat both alike.
/// </summary>
internal static class DeliveryFailures
{
    public static bool IsExpected(Exception error, IReadOnlyList<IExpectedDeliveryFailures> libraries)
    {
        switch (error)
        {
            // The sink's own verdict on the answer it got: refused for good (a 4xx, a constraint), or asked to wait (Retry-After).
            case PermanentDeliveryException or RetryLaterException:
            // An HTTP status or a failed request (HttpClient), a connection refused, reset or unreachable, no answer in time,
            // a broken stream or a full disk, and ADO.NET providers' errors (Npgsql: the server's error or a lost connection).
            case HttpRequestException or SocketException or TimeoutException or IOException or DbException:
            // Not a stop (the runner does not retry that): a client's own time-out.
            case OperationCanceledException:
                return true;
        }

        foreach (var library in libraries)
        {
            if (library.IsExpected(error))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The failure in one line: its message and each cause's that the message does not already say.</summary>
    public static string Describe(Exception error)
    {
        var message = error.Message;
        var depth = 0;
        for (var inner = error.InnerException; inner is not null && depth < 4; inner = inner.InnerException, depth++)
        {
            if (inner.Message.Length > 0 && !message.Contains(inner.Message, StringComparison.Ordinal))
            {
                message += " (" + inner.Message + ")";
            }
        }

        return message.ReplaceLineEndings(" ");
    }
}

namespace CdcPipeline.Core.Sinks;

/// <summary>
/// A transient failure whose receiver said when to try again (HTTP <c>Retry-After</c> on a 429 or 503): the runner waits
/// that long before the next attempt instead of its own backoff, at least the sink's <c>retry.initialDelay</c> and at most
/// <see cref="MaxDelay"/> (a stop does not wait for it).
/// </summary>
public sealed class RetryLaterException : Exception
{
    /// <summary>The longest wait a receiver can ask for; a longer one is shortened to this.</summary>
    public static readonly TimeSpan MaxDelay = TimeSpan.FromMinutes(5);

    public RetryLaterException(string message, TimeSpan delay, Exception? inner = null)
        : base(message, inner)
    {
        Delay = delay;
    }

    /// <summary>The wait the receiver asked for (zero or more).</summary>
    public TimeSpan Delay { get; }
}

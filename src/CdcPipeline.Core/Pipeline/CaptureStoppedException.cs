namespace CdcPipeline.Core.Pipeline;

/// <summary>
/// The capture cannot go on, and retrying will not change that: a replication slot lost or dropped, a slot that is not
/// this pipeline's, a state file from another history, a table the capture user may not read, a value with no canonical
/// form, a publication or an outbox table that is missing or unfit. The message says what happened, where, and what the
/// operator does next; <c>run</c> prints it as its one error line and exits 1, without a stack trace (it is not a bug).
/// </summary>
/// <remarks>
/// Kept in Core so that the command line tells these stops from bugs without knowing the capture's internals. The
/// server's error that revealed the problem, when there is one, is the <see cref="Exception.InnerException"/>.
/// </remarks>
public class CaptureStoppedException : Exception
{
    public CaptureStoppedException(string message)
        : base(message)
    {
    }

    public CaptureStoppedException(string message, Exception? inner)
        : base(message, inner)
    {
    }
}

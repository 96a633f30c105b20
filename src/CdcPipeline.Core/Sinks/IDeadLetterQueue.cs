namespace CdcPipeline.Core.Sinks;

/// <summary>Where poison records go (a DLQ topic, a JSON-lines file, a table).</summary>
public interface IDeadLetterQueue
{
    ValueTask WriteAsync(DeadLetter letter, CancellationToken cancellationToken);
}

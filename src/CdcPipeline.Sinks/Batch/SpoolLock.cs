using CdcPipeline.Core.Configuration;
using CdcPipeline.Core.Sinks;

namespace CdcPipeline.Sinks.Batch;

/// <summary>
/// The exclusive hold of a running batch sink on its spool directory: spool files are named by interval start only, so two
/// processes spooling into one directory would append to the same files and close (and delete) each other's.
/// <para>
/// The lock is <c>.lock</c> in the directory, held for the sink's lifetime, its holder named in <c>.lock.owner</c>
/// (see <see cref="ExclusiveLockFile"/>, which the embedded capture's state file uses too).
/// </para>
/// </summary>
internal sealed class SpoolLock : IDisposable
{
    public const string LockName = ".lock";
    public const string OwnerName = ".lock.owner";

    private readonly ExclusiveLockFile _lock;

    private SpoolLock(ExclusiveLockFile held) => _lock = held;

    /// <summary>Takes the spool directory (which must exist), or throws <see cref="StateDirectoryInUseException"/> when another holds it.</summary>
    public static SpoolLock Acquire(string directory, string pipeline, string sink)
    {
        var held = ExclusiveLockFile.TryAcquire(Path.Combine(directory, LockName), Path.Combine(directory, OwnerName),
            [new("pipeline", pipeline), new("sink", sink)], out var holder);
        if (held is null)
        {
            throw new StateDirectoryInUseException(
                $"sink '{sink}': spool directory {directory} is held by another process ({holder}): two processes on one spool "
                    + "mix and delete each other's batches; stop that process first, or, if both are meant to run, give each sink its own spool directory (batch.spool)",
                sink,
                directory,
                holder);
        }

        return new SpoolLock(held);
    }

    public void Dispose() => _lock.Dispose();
}

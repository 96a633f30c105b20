namespace CdcPipeline.Core.Pipeline;

/// <summary>
/// A source that names, in what it warns about, the sinks holding its acknowledgements back (the embedded capture: its slot
/// retaining WAL until max_slot_wal_keep_size would invalidate it). The pipeline's build hands it
/// <see cref="PipelineRunner.FailingSinks"/>; the source reads it only where it checks anyway (its heartbeat), never per change.
/// </summary>
public interface ISourceFailingSinks
{
    void ObserveFailingSinks(Func<IReadOnlyList<FailingSink>> failingSinks);
}

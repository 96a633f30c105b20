using System.Globalization;
using CdcPipeline.Core.Changes;

namespace CdcPipeline.Core.Sinks;

/// <summary>
/// The dead-letter store (<c>deadLetter.path</c>'s file, <c>deadLetter.topic</c>'s producer) could not keep a dead letter of
/// <see cref="Stage"/> (a sink's name, <c>translate</c>, or <c>decode</c>: a record the Kafka source could not decode and
/// dead-letters itself), so the pipeline stops: the event or record can be neither kept nor skipped, and its change is not
/// acknowledged (read again after a restart). The inner exception is the store's own error; wrapping it
/// lets the stop's line name the dead-letter setting, not the source's or a bug's stack trace.
/// </summary>
public sealed class DeadLetterStoreException(string stage, Exception inner, SourcePosition? record = null)
    : Exception($"the dead-letter store could not keep a dead letter of {Of(stage, record)}: {inner.Message}", inner)
{
    public string Stage { get; } = stage;

    /// <summary>
    /// Whose dead letter it was, as messages say it: <c>sink 'hook' (position slot@24023128:2)</c>, a change that failed to
    /// translate (position …), the record <c>topic/0@42</c>, which the source could not decode.
    /// </summary>
    public string Whose => Of(Stage, Record);

    /// <summary>The source's own letter (<c>decode</c>): a record, not yet a change.</summary>
    public bool OfRecord => Stage == "decode";

    /// <summary>
    /// Where the source read the record of a <c>decode</c> letter, or the position of the change a sink's or a
    /// <c>translate</c> letter came from (as <c>dlq list</c> shows it: <c>stream@major:minor</c>): the stop's line names it,
    /// as the log record before it does, for an operator (or a supervisor) who keeps only the last line.
    /// </summary>
    public SourcePosition? Record { get; } = record;

    private static string Of(string stage, SourcePosition? record) => stage switch
    {
        "translate" => "a change that failed to translate" + At(record),
        "decode" when record is { } position && position.TryGetKafkaPartition(out var topic, out var partition) =>
            string.Create(CultureInfo.InvariantCulture, $"the record {topic}/{partition}@{position.Major}, which the source could not decode"),
        "decode" => "a record the source could not decode",
        _ => $"sink '{stage}'" + At(record),
    };

    private static string At(SourcePosition? record) => record is { } position ? $" (position {position})" : "";
}

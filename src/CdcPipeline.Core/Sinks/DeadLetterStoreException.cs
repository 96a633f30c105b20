namespace CdcPipeline.Core.Sinks;

/// <summary>
/// The dead-letter store (<c>deadLetter.path</c>'s file, <c>deadLetter.topic</c>'s producer) could not keep a dead letter of
/// <see cref="Stage"/> (a sink's name, <c>translate</c>, or <c>decode</c>: a record the Kafka source could not decode and
/// dead-letters itself), so the pipeline stops: the event or record can be neither kept nor skipped, and its change is not
/// acknowledged (read again after a restart). The inner exception is the store's own error; wrapping it
/// lets the stop's line name the dead-letter setting, not the source's or a bug's stack trace.
/// </summary>
public sealed class DeadLetterStoreException(string stage, Exception inner)
    : Exception($"the dead-letter store could not keep a dead letter of {Of(stage)}: {inner.Message}", inner)
{
    public string Stage { get; } = stage;

    /// <summary>Whose dead letter it was, as messages say it: <c>sink 'hook'</c>, a change that failed to translate, a record the source could not decode.</summary>
    public string Whose => Of(Stage);

    /// <summary>The source's own letter (<c>decode</c>): a record, not yet a change.</summary>
    public bool OfRecord => Stage == "decode";

    private static string Of(string stage) => stage switch
    {
        "translate" => "a change that failed to translate",
        "decode" => "a record the source could not decode",
        _ => $"sink '{stage}'",
    };
}

namespace CdcPipeline.Sinks.Postgres;

public enum PostgresSinkMode
{
    /// <summary>One row per event, inserted once (<c>ON CONFLICT (id) DO NOTHING</c>): an event log.</summary>
    Append,

    /// <summary>One row per subject holding its latest event: a projection of current state.</summary>
    Upsert,
}

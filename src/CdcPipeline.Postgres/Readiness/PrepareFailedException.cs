using Npgsql;

namespace CdcPipeline.Postgres.Readiness;

/// <summary>A <c>db prepare --apply</c> step failed; the whole transaction was rolled back.</summary>
public sealed class PrepareFailedException(string step, PostgresException inner)
    : Exception($"step '{step}' failed: {inner.MessageText}{(inner.Hint is null ? "" : " (" + inner.Hint + ")")}; nothing was changed (rolled back)", inner)
{
    public string Step { get; } = step;
}

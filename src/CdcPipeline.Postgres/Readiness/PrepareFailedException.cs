using Npgsql;

namespace CdcPipeline.Postgres.Readiness;

/// <summary>
/// A <c>db prepare --apply</c> step failed; the whole transaction was rolled back. Refused for want of privilege (42501), the
/// message says who may run the step (<paramref name="mayRunIt"/>) and that <paramref name="user"/> is not that.
/// </summary>
public sealed class PrepareFailedException(string step, PostgresException inner, string? user = null, string? mayRunIt = null)
    : Exception($"step '{step}' failed: {inner.MessageText}{(inner.Hint is null ? "" : " (" + inner.Hint + ")")}; nothing was changed (rolled back)" +
                (inner.SqlState == PostgresErrorCodes.InsufficientPrivilege
                    ? $". PostgreSQL lets {mayRunIt ?? "a superuser or the owner of what it changes"} run this step, and {(user is null ? "the connecting role" : "role " + user)} is not: " +
                      "run db prepare --apply as such a role, or print the script (without --apply) and have a superuser run it"
                    : ""), inner)
{
    public string Step { get; } = step;
}

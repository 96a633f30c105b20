using System.ComponentModel.DataAnnotations;
using CdcPipeline.Core.Changes;

namespace CdcPipeline.Postgres.Outbox;

/// <summary>
/// <c>source.outboxPolling</c>: publish an outbox table by polling it, for databases where logical
/// replication is not allowed. The table is the one <c>OutboxWriter</c> creates (an increasing
/// <c>seq</c>, a <c>status</c> of pending/sent, <c>attempts</c>, <c>sent_at</c>).
/// </summary>
public sealed class OutboxPollingOptions
{
    /// <summary>Npgsql connection string (holds the password: never logged).</summary>
    [Required(ErrorMessage = "the outbox relay needs a connectionString")]
    public string ConnectionString { get; set; } = "";

    [Required(AllowEmptyStrings = false)]
    [RegularExpression(PgNames.TablePattern, ErrorMessage = "use [schema.]table with letters, digits and '_'")]
    public string Table { get; set; } = "public.outbox";

    /// <summary>Pause between polls when nothing is pending.</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(1);

    [Range(1, 100_000)]
    public int BatchSize { get; set; } = 500;

    /// <summary>
    /// The increasing column that orders rows (an identity column; see <c>OutboxWriter</c> for why commits must follow it). Read as
    /// <see cref="Table"/> is, as PostgreSQL reads the name unquoted (<c>Seq</c> is <c>seq</c>), and quoted in the relay's SQL, so a
    /// reserved word (<c>offset</c>) is a column name too.
    /// </summary>
    [RegularExpression(PgNames.IdentifierPattern, ErrorMessage = "a plain column name")]
    public string SequenceColumn { get; set; } = "seq";

    /// <summary>
    /// Debezium's <c>money.fraction.digits</c>, as <c>source.postgres.moneyFractionDigits</c>: the decimal places of the
    /// database's currency, for MONEY columns of the outbox table (0 for a yen database). The relay has its own
    /// settings (no <c>source.postgres</c> block runs beside it), so the option is repeated here.
    /// </summary>
    [Range(0, 10, ErrorMessage = "must be 0-10: the decimal places of the database's currency (2 for dollars and euros, 0 for yen)")]
    public int MoneyFractionDigits { get; set; } = 2;

    public string QualifiedTable => Table.Contains('.', StringComparison.Ordinal) ? Table : "public." + Table;
}

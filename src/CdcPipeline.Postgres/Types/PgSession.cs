namespace CdcPipeline.Postgres.Types;

/// <summary>
/// Session settings under which <see cref="PgTextValues"/> parses PostgreSQL's text output. pgoutput formats
/// tuples with the walsender's own settings, so they go into the startup packet of every connection we open.
/// MONEY prints in the session's <c>lc_monetary</c> (a German database: <c>1.234,56 €</c>); under <c>C</c> it is
/// <c>$1,234.56</c> whatever the database's locale.
/// </summary>
internal static class PgSession
{
    public const string Settings =
        "-c DateStyle=ISO,YMD -c TimeZone=UTC -c IntervalStyle=iso_8601 -c bytea_output=hex -c extra_float_digits=3 -c lc_monetary=C";

    /// <summary>The user's connection string with our session settings appended to its <c>Options</c>.</summary>
    public static string Apply(string connectionString, string? applicationName = null)
    {
        var builder = new Npgsql.NpgsqlConnectionStringBuilder(connectionString);
        builder.Options = string.IsNullOrWhiteSpace(builder.Options) ? Settings : builder.Options + " " + Settings;
        if (applicationName is not null && string.IsNullOrEmpty(builder.ApplicationName))
        {
            builder.ApplicationName = applicationName;
        }

        return builder.ConnectionString;
    }
}

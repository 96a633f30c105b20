using Microsoft.Extensions.Configuration;
using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Configuration;
using CdcPipeline.Core.Sinks;
using Npgsql;

namespace CdcPipeline.Sinks.Postgres;

/// <summary><c>postgres: { connectionString: "…", table: domain_events, mode: append }</c> or <c>{ …, mode: upsert, projection: { keyColumn: order_id } }</c></summary>
public sealed class PostgresSinkFactory : ISinkFactory
{
    public string Kind => "postgres";

    public void Validate(PipelineComponentContext context) => _ = Checked(context);

    public ISink Create(PipelineComponentContext context) =>
        new PostgresSink(context.Name, Checked(context), context.Locations.Describe(context.Section.Path + ":table"));

    /// <summary>What <see cref="Create"/> refuses; the options.</summary>
    private static PostgresSinkOptions Checked(PipelineComponentContext context)
    {
        var options = context.Bind<PostgresSinkOptions>();
        ConfigBinding.Validate(options.Projection, context.Section.Path + ":projection", context.Locations);
        try
        {
            _ = new NpgsqlConnectionStringBuilder(options.ConnectionString);
        }
        catch (ArgumentException e)
        {
            // The builder's message names the bad keyword, never the value.
            throw context.Error("connectionString", $"not a valid Npgsql connection string: {e.Message}");
        }

        if (!PgNames.TryParseQualified(options.Table, out _, out _, out var tableError))
        {
            throw context.Error("table", tableError!);
        }

        if (options.Mode == PostgresSinkMode.Append && context.Section.GetSection("projection").Exists())
        {
            throw context.Error("projection", "applies to mode: upsert only");
        }

        if (options.Mode == PostgresSinkMode.Upsert && string.Equals(options.Projection.KeyColumn, options.Projection.DataColumn, StringComparison.OrdinalIgnoreCase))
        {
            throw context.Error("projection", "keyColumn and dataColumn must differ");
        }

        if (options.Mode == PostgresSinkMode.Upsert)
        {
            // Quoted as configured, so only an exact match collides: CREATE TABLE would refuse the column twice (42701) and the
            // INSERT could not fill it — on every event, found only at run time.
            foreach (var (key, column) in new[] { ("keyColumn", options.Projection.KeyColumn), ("dataColumn", options.Projection.DataColumn) })
            {
                if (PostgresSink.UpsertColumns.Contains(column, StringComparer.Ordinal))
                {
                    throw context.Error("projection:" + key, $"'{column}' is a column the sink keeps itself ({string.Join(", ", PostgresSink.UpsertColumns)}); choose another name");
                }
            }
        }

        return options;
    }
}

using Microsoft.Extensions.Configuration;
using CdcPipeline.Core.Changes;
using CdcPipeline.Core.Configuration;
using CdcPipeline.Core.Sinks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace CdcPipeline.Sinks.Postgres;

/// <summary><c>postgres: { connectionString: "…", table: domain_events, mode: append }</c> or <c>{ …, mode: upsert, projection: { keyColumn: order_id } }</c></summary>
public sealed class PostgresSinkFactory : ISinkFactory
{
    public string Kind => "postgres";

    public void Validate(PipelineComponentContext context) => _ = Checked(context);

    public ISink Create(PipelineComponentContext context) =>
        new PostgresSink(context.Name, Checked(context), key => context.Locations.Describe(context.Section.Path + ":" + key), context.Services.GetService<ILogger<PostgresSink>>());

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

        if (options.Mode == PostgresSinkMode.Upsert)
        {
            // Read as the table is (keyColumn: OrderId is orderid, '"OrderId"' keeps its case) and compared by the names PostgreSQL
            // gets: CREATE TABLE would refuse a column twice (42701) and the INSERT could not fill it — on every event, found only at run time.
            var names = new List<string>(2);
            foreach (var (key, column) in new[] { ("keyColumn", options.Projection.KeyColumn), ("dataColumn", options.Projection.DataColumn) })
            {
                if (!PgNames.TryParseName(column, out var name, out var columnError))
                {
                    throw context.Error("projection:" + key, columnError!);
                }

                if (PostgresSink.UpsertColumns.Contains(name, StringComparer.Ordinal))
                {
                    var kept = string.Join(", ", PostgresSink.UpsertColumns);
                    throw context.Error("projection:" + key, name == column
                        ? $"'{column}' is a column the sink keeps itself ({kept}); choose another name"
                        : $"'{column}' is the column {name}, which the sink keeps itself ({kept}); choose another name, or write it quoted ('\"{column}\"') for that exact name");
                }

                names.Add(name);
            }

            if (names[0] == names[1])
            {
                throw context.Error("projection", $"keyColumn and dataColumn must differ (both are the column {names[0]})");
            }
        }

        return options;
    }
}

using System.Globalization;
using System.Text.Json;
using CdcPipeline.Consumer;
using Npgsql;

namespace DownstreamBilling;

/// <summary>
/// The billing service's view of orders, kept from the order events: placed → open, shipped →
/// invoiceable, cancelled → cancelled. Each handler writes in the consumer's transaction, so its
/// effect commits exactly when the event is marked processed.
/// </summary>
public static class BillingProjection
{
    public const string ConsumerName = "billing";

    public const string SchemaSql = """
        CREATE TABLE IF NOT EXISTS billing_orders (
            order_id    text          PRIMARY KEY,
            customer_id text,
            amount      numeric(12,2) NOT NULL DEFAULT 0,
            status      text          NOT NULL,
            shipped_on  date,
            events      integer       NOT NULL DEFAULT 1,
            updated_at  timestamptz   NOT NULL DEFAULT now()
        )
        """;

    public static async Task HandleAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, ConsumedEvent evt, CancellationToken cancellationToken)
    {
        // 'events' counts the events applied per order: a duplicate that slipped through would show.
        var (sql, parameters) = evt.Type switch
        {
            "OrderPlaced" => ("""
                INSERT INTO billing_orders (order_id, customer_id, amount, status) VALUES ($1, $2, $3, 'open')
                ON CONFLICT (order_id) DO UPDATE SET customer_id = EXCLUDED.customer_id, amount = EXCLUDED.amount,
                    events = billing_orders.events + 1, updated_at = now()
                """, new object?[] { OrderId(evt), Text(evt.Data, "customerId"), Amount(evt.Data, "total") }),
            "OrderShipped" => ("""
                INSERT INTO billing_orders (order_id, status, shipped_on) VALUES ($1, 'invoiceable', $2)
                ON CONFLICT (order_id) DO UPDATE SET status = 'invoiceable', shipped_on = EXCLUDED.shipped_on,
                    events = billing_orders.events + 1, updated_at = now()
                """, new object?[] { OrderId(evt), Date(evt.Data, "shippedOn") }),
            "OrderCancelled" => ("""
                INSERT INTO billing_orders (order_id, status) VALUES ($1, 'cancelled')
                ON CONFLICT (order_id) DO UPDATE SET status = 'cancelled', events = billing_orders.events + 1, updated_at = now()
                """, new object?[] { OrderId(evt) }),
            _ => (null, []),
        };

        if (sql is null)
        {
            return; // not billing's business; still marked processed, so it is not looked at again
        }

        await using var command = new NpgsqlCommand(sql, connection, transaction);
        foreach (var value in parameters)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = value ?? DBNull.Value });
        }

        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    private static string OrderId(ConsumedEvent evt) =>
        Text(evt.Data, "orderId") ?? evt.Subject ?? throw new FormatException($"event {evt.Id} ({evt.Type}) has no orderId and no subject");

    /// <summary>The pipeline writes decimals as strings with exact digits ("1001", "12.50"); accept numbers too.</summary>
    private static string? Text(JsonElement data, string name) =>
        data.ValueKind == JsonValueKind.Object && data.TryGetProperty(name, out var v)
            ? v.ValueKind switch
            {
                JsonValueKind.String => v.GetString(),
                JsonValueKind.Number => v.GetRawText(),
                _ => null,
            }
            : null;

    private static decimal? Amount(JsonElement data, string name) =>
        Text(data, name) is { } text ? decimal.Parse(text, NumberStyles.Number, CultureInfo.InvariantCulture) : null;

    private static DateOnly? Date(JsonElement data, string name) =>
        Text(data, name) is { Length: > 0 } text && DateOnly.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var d) ? d : null;
}

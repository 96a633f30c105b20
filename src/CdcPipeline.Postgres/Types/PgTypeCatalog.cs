using System.Collections.Concurrent;
using Npgsql;

namespace CdcPipeline.Postgres.Types;

/// <summary>
/// Resolves column type OIDs (from relation messages and snapshot queries) to text converters.
/// Built-in types are known by OID; enums, domains and arrays of them are looked up in <c>pg_type</c>
/// once and cached, because pgoutput's TYPE message names a type but does not say whether it is an enum.
/// </summary>
/// <param name="dataSource">Connections for the <c>pg_type</c> look-ups.</param>
/// <param name="moneyFractionDigits">Debezium's <c>money.fraction.digits</c> (see <see cref="PostgresSourceOptions.MoneyFractionDigits"/>).</param>
internal sealed class PgTypeCatalog(NpgsqlDataSource dataSource, int moneyFractionDigits = 2)
{
    private const uint BitOid = 1560;
    private const uint VarBitOid = 1562;

    private readonly ConcurrentDictionary<uint, Func<string, object?>> _converters = new();

    /// <param name="oid">The column's type.</param>
    /// <param name="typeModifier">
    /// The column's type modifier (pgoutput's RELATION message, <c>pg_attribute.atttypmod</c>; -1 when none): Debezium
    /// reads <c>BIT(1)</c> and <c>VARBIT(1)</c> as BOOLEAN, longer bit strings as Bits.
    /// </param>
    /// <param name="cancellationToken">Ends a <c>pg_type</c> look-up.</param>
    public async ValueTask<Func<string, object?>> GetConverterAsync(uint oid, int typeModifier, CancellationToken cancellationToken)
    {
        if (oid is BitOid or VarBitOid && typeModifier == 1)
        {
            return PgTextValues.OneBitAsBoolean;
        }

        if (_converters.TryGetValue(oid, out var known))
        {
            return known;
        }

        if (PgTextValues.TryGetBuiltIn(oid, moneyFractionDigits) is { } builtIn)
        {
            return _converters.GetOrAdd(oid, builtIn);
        }

        var converter = await ResolveAsync(oid, depth: 0, cancellationToken);
        return _converters.GetOrAdd(oid, converter);
    }

    private async Task<Func<string, object?>> ResolveAsync(uint oid, int depth, CancellationToken cancellationToken)
    {
        if (PgTextValues.TryGetBuiltIn(oid, moneyFractionDigits) is { } builtIn)
        {
            return builtIn;
        }

        if (depth > 8)
        {
            return PgTextValues.AsText;
        }

        var info = await LookUpAsync(oid, cancellationToken);
        if (info is null)
        {
            return PgTextValues.AsText;
        }

        if (info.Category == 'A' && info.ElementOid != 0)
        {
            var element = await ResolveAsync(info.ElementOid, depth + 1, cancellationToken);
            return text => PgTextValues.ParseArray(text, element, info.Delimiter);
        }

        return info.TypType switch
        {
            'e' => PgTextValues.AsText,
            'd' when info.BaseOid != 0 => await ResolveAsync(info.BaseOid, depth + 1, cancellationToken),
            _ => PgTextValues.AsText,
        };
    }

    private async Task<PgTypeInfo?> LookUpAsync(uint oid, CancellationToken cancellationToken)
    {
        await using var cmd = dataSource.CreateCommand(
            "SELECT t.oid, t.typname, t.typtype, t.typcategory, t.typelem, t.typbasetype, t.typdelim " +
            "FROM pg_catalog.pg_type t WHERE t.oid = $1");
        cmd.Parameters.Add(new NpgsqlParameter<uint> { TypedValue = oid, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Oid });
        await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return null;
        }

        return new PgTypeInfo(
            reader.GetFieldValue<uint>(0),
            reader.GetString(1),
            reader.GetChar(2),
            reader.GetChar(3),
            reader.GetFieldValue<uint>(4),
            reader.GetFieldValue<uint>(5),
            reader.GetChar(6));
    }
}

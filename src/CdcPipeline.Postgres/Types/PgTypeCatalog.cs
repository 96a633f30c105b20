using System.Collections.Concurrent;
using Npgsql;

namespace CdcPipeline.Postgres.Types;

/// <summary>
/// Resolves column type OIDs (from relation messages and snapshot queries) to text converters.
/// Built-in types are known by OID; enums, domains, arrays of them and extension types (<c>hstore</c>, whose OID
/// differs per database) are looked up in <c>pg_type</c> once and cached, because pgoutput's TYPE message names a
/// type but does not say whether it is an enum. A domain reads as its base type with the domain's own type modifier,
/// as Debezium reads it (a domain over <c>BIT(1)</c> is a BOOLEAN).
/// </summary>
/// <param name="dataSource">Connections for the <c>pg_type</c> look-ups.</param>
/// <param name="moneyFractionDigits">Debezium's <c>money.fraction.digits</c> (see <see cref="PostgresSourceOptions.MoneyFractionDigits"/>).</param>
internal sealed class PgTypeCatalog(NpgsqlDataSource dataSource, int moneyFractionDigits = 2)
{
    private const uint BitOid = 1560;
    private const uint VarBitOid = 1562;
    private const uint NumericOid = 1700;

    /// <summary>Debezium's <c>TypeRegistry</c> finds the hstore extension's type by this name.</summary>
    private const string HstoreTypeName = "hstore";

    // Keyed by the modifier too: NUMERIC[] and NUMERIC(10,2)[] share an OID but not a converter.
    private readonly ConcurrentDictionary<(uint Oid, int TypeModifier), Func<string, object?>> _converters = new();

    /// <param name="oid">The column's type.</param>
    /// <param name="typeModifier">
    /// The column's type modifier (pgoutput's RELATION message, <c>pg_attribute.atttypmod</c>; -1 when none): Debezium
    /// reads <c>BIT(1)</c> and <c>VARBIT(1)</c> as BOOLEAN, longer bit strings as Bits, and a NUMERIC without one (also as
    /// an array's element) as a VariableScaleDecimal.
    /// </param>
    /// <param name="cancellationToken">Ends a <c>pg_type</c> look-up.</param>
    public async ValueTask<Func<string, object?>> GetConverterAsync(uint oid, int typeModifier, CancellationToken cancellationToken)
    {
        if (ByModifier(oid, typeModifier) is { } special)
        {
            return special;
        }

        if (_converters.TryGetValue((oid, typeModifier), out var known))
        {
            return known;
        }

        var converter = PgTextValues.TryGetBuiltIn(oid, moneyFractionDigits)
            ?? await ResolveAsync(oid, typeModifier, depth: 0, cancellationToken);
        return _converters.GetOrAdd((oid, typeModifier), converter);
    }

    private static Func<string, object?>? ByModifier(uint oid, int typeModifier) => oid switch
    {
        BitOid or VarBitOid when typeModifier == 1 => PgTextValues.OneBitAsBoolean,
        NumericOid when typeModifier == -1 => PgTextValues.VariableScaleNumeric,
        _ => null,
    };

    private async Task<Func<string, object?>> ResolveAsync(uint oid, int typeModifier, int depth, CancellationToken cancellationToken)
    {
        if (ByModifier(oid, typeModifier) is { } special)
        {
            return special;
        }

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
            // An array column's modifier is its element's; Debezium gives the element the array column's precision and scale.
            // Bit elements keep theirs as before: Debezium has no working schema for a BIT(1)[] to follow.
            var elementModifier = info.ElementOid == NumericOid ? typeModifier : -1;
            var element = await ResolveAsync(info.ElementOid, elementModifier, depth + 1, cancellationToken);
            return text => PgTextValues.ParseArray(text, element, info.Delimiter);
        }

        return info.TypType switch
        {
            'e' => PgTextValues.AsText,
            // Debezium: the domain's typtypmod, or the one of the domain it is based on when it sets none.
            'd' when info.BaseOid != 0 => await ResolveAsync(info.BaseOid, info.TypeModifier, depth + 1, cancellationToken),
            'b' when info.Name == HstoreTypeName => PgTextValues.HstoreAsJson,
            _ => PgTextValues.AsText,
        };
    }

    private async Task<PgTypeInfo?> LookUpAsync(uint oid, CancellationToken cancellationToken)
    {
        await using var cmd = dataSource.CreateCommand(
            "SELECT t.oid, t.typname, t.typtype, t.typcategory, t.typelem, t.typbasetype, t.typdelim, t.typtypmod " +
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
            reader.GetChar(6),
            reader.GetInt32(7));
    }
}

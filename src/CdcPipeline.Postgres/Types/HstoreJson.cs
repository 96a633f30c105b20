using System.Globalization;
using System.Text;

namespace CdcPipeline.Postgres.Types;

/// <summary>
/// PostgreSQL's hstore text (<c>"a"=>"1", "b"=>NULL</c>) → the JSON text Debezium emits for it with
/// <c>hstore.handling.mode=json</c>, character for character, so that both capture paths carry the same value:
/// <list type="bullet">
/// <item>pgjdbc's <c>HStoreConverter.fromString</c> puts the pairs, in the order PostgreSQL prints them, into a
/// <c>java.util.HashMap</c>; Debezium writes them in that map's iteration order, which <see cref="JavaHashMapBuckets"/>
/// reproduces (buckets by <c>String.hashCode</c>, a table that starts at 16 and doubles past 3/4 full or when a bucket
/// reaches 9 entries below 64 buckets, insertion order inside a bucket).</item>
/// <item>Jackson's <c>JsonGenerator</c> writes compactly (<c>{"a":"1","b":null}</c>), escapes <c>"</c>, <c>\</c> and
/// control characters (<c>\b \t \n \f \r</c>, else <c>\u00XX</c> in upper-case hex) and nothing else.</item>
/// </list>
/// Not reproduced: a bucket of a table of 64 or more buckets that holds 9 or more keys becomes a red-black tree in
/// Java, which orders that bucket differently; the JSON object is the same, its key order may differ.
/// </summary>
internal static class HstoreJson
{
    private const int JavaInitialCapacity = 16;
    private const int JavaTreeifyThreshold = 8;
    private const int JavaMinTreeifyCapacity = 64;

    public static string FromText(string text)
    {
        var keys = new List<string>();
        var values = new List<string?>();
        Parse(text, keys, values);

        var json = new StringBuilder(text.Length + 2);
        json.Append('{');
        var first = true;
        foreach (var bucket in JavaHashMapBuckets(keys))
        {
            foreach (var i in bucket)
            {
                if (!first)
                {
                    json.Append(',');
                }

                first = false;
                AppendString(json, keys[i]);
                json.Append(':');
                if (values[i] is { } value)
                {
                    AppendString(json, value);
                }
                else
                {
                    json.Append("null");
                }
            }
        }

        return json.Append('}').ToString();
    }

    /// <summary>hstore_out's form: <c>"key"=>"value"</c> or <c>"key"=>NULL</c>, joined by <c>", "</c>; <c>"</c> and <c>\</c> escaped by <c>\</c>.</summary>
    private static void Parse(string text, List<string> keys, List<string?> values)
    {
        var sb = new StringBuilder();
        var pos = 0;
        while (true)
        {
            pos = text.IndexOf('"', pos);
            if (pos < 0)
            {
                return;
            }

            pos = ReadQuoted(text, pos, sb);
            keys.Add(sb.ToString());
            if (string.CompareOrdinal(text, pos, "=>", 0, 2) != 0)
            {
                throw new FormatException($"hstore text has no '=>' after key \"{sb}\" at offset {pos}");
            }

            pos += 2;
            if (string.CompareOrdinal(text, pos, "NULL", 0, 4) == 0)
            {
                values.Add(null);
                pos += 4;
            }
            else if (pos < text.Length && text[pos] == '"')
            {
                pos = ReadQuoted(text, pos, sb);
                values.Add(sb.ToString());
            }
            else
            {
                throw new FormatException($"hstore text has neither a quoted value nor NULL after key \"{keys[^1]}\" at offset {pos}");
            }
        }
    }

    /// <summary>Reads the quoted string starting at <paramref name="quote"/> into <paramref name="sb"/>; returns the offset after its closing quote.</summary>
    private static int ReadQuoted(string text, int quote, StringBuilder sb)
    {
        sb.Clear();
        for (var pos = quote + 1; pos < text.Length; pos++)
        {
            var ch = text[pos];
            if (ch == '"')
            {
                return pos + 1;
            }

            if (ch == '\\' && pos + 1 < text.Length)
            {
                ch = text[++pos];
            }

            sb.Append(ch);
        }

        throw new FormatException($"hstore text has an unterminated quoted string at offset {quote}");
    }

    /// <summary>The buckets of a <c>java.util.HashMap</c> that <paramref name="keys"/> (distinct) were put in, in order: its iteration order.</summary>
    internal static List<int>[] JavaHashMapBuckets(IReadOnlyList<string> keys)
    {
        var hashes = new int[keys.Count];
        for (var i = 0; i < keys.Count; i++)
        {
            var h = 0;
            foreach (var ch in keys[i])
            {
                h = unchecked((31 * h) + ch); // String.hashCode over UTF-16 code units
            }

            hashes[i] = h ^ (int)((uint)h >> 16); // HashMap.hash spreads the high bits down
        }

        var capacity = JavaInitialCapacity;
        var buckets = NewBuckets(capacity);
        for (var i = 0; i < keys.Count; i++)
        {
            var bucket = buckets[hashes[i] & (capacity - 1)];
            bucket.Add(i);
            if (bucket.Count > JavaTreeifyThreshold && capacity < JavaMinTreeifyCapacity)
            {
                // treeifyBin resizes instead of building a tree while the table is small
                buckets = Resize(buckets, hashes, ref capacity);
            }

            if (i + 1 > capacity / 4 * 3)
            {
                buckets = Resize(buckets, hashes, ref capacity);
            }
        }

        return buckets;
    }

    private static List<int>[] Resize(List<int>[] buckets, int[] hashes, ref int capacity)
    {
        capacity *= 2;
        var resized = NewBuckets(capacity);
        foreach (var bucket in buckets)
        {
            foreach (var i in bucket)
            {
                resized[hashes[i] & (capacity - 1)].Add(i); // a split keeps the relative order
            }
        }

        return resized;
    }

    private static List<int>[] NewBuckets(int capacity)
    {
        var buckets = new List<int>[capacity];
        for (var i = 0; i < capacity; i++)
        {
            buckets[i] = [];
        }

        return buckets;
    }

    /// <summary>A JSON string as Jackson's default generator writes it.</summary>
    private static void AppendString(StringBuilder json, string value)
    {
        json.Append('"');
        foreach (var ch in value)
        {
            switch (ch)
            {
                case '"': json.Append("\\\""); break;
                case '\\': json.Append("\\\\"); break;
                case '\b': json.Append("\\b"); break;
                case '\t': json.Append("\\t"); break;
                case '\n': json.Append("\\n"); break;
                case '\f': json.Append("\\f"); break;
                case '\r': json.Append("\\r"); break;
                case < ' ': json.Append("\\u00").Append(((int)ch).ToString("X2", CultureInfo.InvariantCulture)); break;
                default: json.Append(ch); break;
            }
        }

        json.Append('"');
    }
}

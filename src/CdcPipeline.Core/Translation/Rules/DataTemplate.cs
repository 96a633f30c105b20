using CdcPipeline.Core.Changes;

namespace CdcPipeline.Core.Translation.Rules;

/// <summary>
/// The <c>data:</c> of an event rule: field name → expression, or a nested object of the same form.
/// The field names form one <see cref="RowShape"/> shared by every event built from it, so a payload
/// costs one values array and no per-event dictionary.
/// </summary>
public sealed class DataTemplate
{
    private readonly object[] _fields; // CompiledExpression or DataTemplate

    internal DataTemplate(IReadOnlyList<string> names, object[] fields)
    {
        Shape = new RowShape(names);
        _fields = fields;
    }

    public RowShape Shape { get; }

    /// <summary>Every field's expression, nested ones included, in field order.</summary>
    public IEnumerable<CompiledExpression> Expressions() =>
        _fields.SelectMany(f => f is DataTemplate nested ? nested.Expressions() : [(CompiledExpression)f]);

    /// <summary>Evaluates every field; <paramref name="failed"/> names the expression that threw, for the error message.</summary>
    internal Row Evaluate(EvalScope scope, ref CompiledExpression? failed)
    {
        var values = new object?[_fields.Length];
        for (var i = 0; i < _fields.Length; i++)
        {
            switch (_fields[i])
            {
                case CompiledExpression e:
                    failed = e;
                    values[i] = Normalize(e.Evaluate(scope), Shape.Columns[i]);
                    break;
                case DataTemplate nested:
                    values[i] = nested.Evaluate(scope, ref failed);
                    break;
            }
        }

        failed = null;
        return new Row(Shape, values);
    }

    /// <summary>Keeps payload values within the types the canonical JSON writer renders.</summary>
    private static object? Normalize(object? value, string field) => value switch
    {
        null or string or bool or long or int or short or decimal or double or float or ExactDecimal or Date or LocalTimestamp
            or UtcTimestamp or LocalTime or UtcTime or RawJson or BitString or byte[] or Guid or Unavailable or Row => value,
        char c => c.ToString(),
        byte b => (long)b,
        DateTime dt => LocalTimestamp.FromDateTime(dt),
        DateTimeOffset dto => UtcTimestamp.FromDateTimeOffset(dto),
        System.Collections.IEnumerable => value,
        _ => throw new ExpressionFailure($"data field '{field}' is a {value.GetType().Name}, which has no JSON form"),
    };
}

using System.Dynamic;
using CdcPipeline.Core.Changes;

namespace CdcPipeline.Core.Translation.Rules;

/// <summary>
/// A row image as rule expressions see it: <c>after.ord_sts_cd</c> (or <c>after["Odd Name"]</c>) reads a
/// column. An absent image (<c>before</c> of an insert) reads as null in every column, so conditions like
/// <c>before.ord_sts_cd != "S"</c> need no null guards. A column the image lacks is an error naming it.
/// </summary>
public sealed class RowAccessor : DynamicObject
{
    internal RowAccessor(string name)
    {
        Name = name;
    }

    public string Name { get; }

    public Row? Row { get; internal set; }

    internal ChangeOperation? Operation { get; set; }

    public override bool TryGetMember(GetMemberBinder binder, out object? result)
    {
        result = Get(binder.Name);
        return true;
    }

    public override bool TryGetIndex(GetIndexBinder binder, object[] indexes, out object? result)
    {
        if (indexes.Length == 1 && indexes[0] is string column)
        {
            result = Get(column);
            return true;
        }

        throw new ExpressionFailure($"{Name}[…] takes one column name in double quotes");
    }

    public override IEnumerable<string> GetDynamicMemberNames() => Row?.Keys ?? [];

    internal object? Get(string column)
    {
        var row = Row;
        if (row is null)
        {
            return null;
        }

        var i = row.Shape.IndexOf(column);
        if (i < 0)
        {
            throw new ExpressionFailure(UnknownColumn(column));
        }

        return RuleValues.ForExpression(row[i]);
    }

    internal string UnknownColumn(string column)
    {
        var message = $"column '{column}' is not in {Name} (it has {string.Join(", ", Row?.Keys ?? [])})";
        // row is the before image of a delete, so the same advice holds for it there.
        if ((Name == "before" && Operation is ChangeOperation.Update or ChangeOperation.Delete)
            || (Name == "row" && Operation is ChangeOperation.Delete))
        {
            // pgoutput sends the old row only with REPLICA IDENTITY FULL; otherwise just the key columns.
            message += "; the old image carries only the key columns unless the table has REPLICA IDENTITY FULL";
        }

        return message;
    }

    public override string ToString() => Row?.ToString() ?? "null";
}

using CdcPipeline.Core.Changes;

namespace CdcPipeline.Core.Translation.Rules;

/// <summary>
/// Everything an expression can see of one change. Compiled expressions take this single argument; one
/// instance per thread is reused, so evaluating a rule allocates nothing of its own.
/// </summary>
public sealed class EvalScope
{
    [ThreadStatic]
    private static EvalScope? t_cached;

    public EvalScope()
    {
        Before = new RowAccessor("before");
        After = new RowAccessor("after");
        Key = new RowAccessor("key");
        Row = new RowAccessor("row");
        OldKey = new RowAccessor("oldKey");
        NewKey = new RowAccessor("newKey");
        Source = new SourceView();
    }

    public ChangeEvent Change { get; private set; } = null!;

    /// <summary>The op code as rules compare it: "c", "u", "d", "r", "t" (or "m").</summary>
    public string Op { get; private set; } = "";

    public RowAccessor Before { get; }
    public RowAccessor After { get; }
    public RowAccessor Key { get; }

    /// <summary>The after image, or the before image when there is none (a delete): the row as it last existed.</summary>
    public RowAccessor Row { get; }
    public SourceView Source { get; }

    /// <summary>
    /// True for the delete and the create that an update of the primary key becomes (Debezium's
    /// <c>__debezium.newkey</c>/<c>__debezium.oldkey</c> headers; the embedded path splits such an update the same
    /// way). Without it a renumbered row would read as a row deleted and a new one inserted.
    /// </summary>
    public bool KeyChanged { get; private set; }

    /// <summary>On the create of a primary-key change, the key the row had; null in every column otherwise.</summary>
    public RowAccessor OldKey { get; }

    /// <summary>On the delete of a primary-key change, the key the row has now; null in every column otherwise.</summary>
    public RowAccessor NewKey { get; }

    internal static EvalScope Rent(ChangeEvent change)
    {
        var scope = t_cached ?? new EvalScope();
        t_cached = null;
        scope.Bind(change);
        return scope;
    }

    internal static void Return(EvalScope scope)
    {
        scope.Bind(null);
        t_cached = scope;
    }

    public void Bind(ChangeEvent? change)
    {
        Change = change!;
        Op = change?.Operation?.ToCode() ?? "";
        Before.Row = change?.Before;
        After.Row = change?.After;
        Key.Row = change?.Key;
        Row.Row = change?.After ?? change?.Before;
        OldKey.Row = change?.OldKey;
        NewKey.Row = change?.NewKey;
        KeyChanged = change?.OldKey is not null || change?.NewKey is not null;
        Before.Operation = After.Operation = Key.Operation = Row.Operation = change?.Operation;
        Source.Change = change;
    }

    /// <summary>
    /// <c>changed("col")</c>: whether an update changed the column. False for every other op. An unchanged
    /// TOASTed value (not sent by the WAL) counts as unchanged. Needs the old value, which PostgreSQL sends
    /// only with REPLICA IDENTITY FULL: without it the answer is unknowable, so it is an error, not a guess.
    /// </summary>
    public bool Changed(string column)
    {
        if (Change.Operation != ChangeOperation.Update)
        {
            return false;
        }

        var after = After.Get(column);
        if (after is Unavailable)
        {
            return false;
        }

        var before = Change.Before;
        if (before is null)
        {
            throw new ExpressionFailure(
                $"changed(\"{column}\") needs the old row, but this update carries none: give table {Change.Source.QualifiedTable} REPLICA IDENTITY FULL");
        }

        if (!before.ContainsKey(column))
        {
            throw new ExpressionFailure(Before.UnknownColumn(column));
        }

        return !RuleValues.SameValue(Before.Get(column), after);
    }
}

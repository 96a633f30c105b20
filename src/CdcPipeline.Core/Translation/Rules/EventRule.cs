namespace CdcPipeline.Core.Translation.Rules;

/// <summary>One entry of a rule file's <c>events:</c> — a domain event (or command) some changes become.</summary>
public sealed class EventRule
{
    internal EventRule(string id, string type, DomainEventKind kind, string? target, string? aggregate,
        CompiledExpression? when, CompiledExpression? subject, DataTemplate? data, RuleLocation location)
    {
        Id = id;
        Type = type;
        Kind = kind;
        Target = target;
        Aggregate = aggregate;
        When = when;
        Subject = subject;
        Data = data;
        Location = location;
    }

    /// <summary>Stable rule id, <c>file-name#type</c> (or <c>file-name#id</c>): part of every event id, so never rename it lightly.</summary>
    public string Id { get; }

    public string Type { get; }

    public DomainEventKind Kind { get; }

    /// <summary>The one sink a command goes to.</summary>
    public string? Target { get; }

    public string? Aggregate { get; }

    /// <summary>The condition; null means every change of the table.</summary>
    public CompiledExpression? When { get; }

    public CompiledExpression? Subject { get; }

    public DataTemplate? Data { get; }

    public RuleLocation Location { get; }

    /// <summary>Whether the rule can fire on a change with <paramref name="op"/>, as far as its <c>when</c>'s tests of <c>op</c> tell.</summary>
    internal bool MayFireOn(string op) => When?.MayHold(op) ?? true;

    /// <summary>Every expression of the rule: <c>when</c>, <c>subject</c>, then the <c>data</c> fields.</summary>
    public IEnumerable<CompiledExpression> Expressions()
    {
        if (When is not null)
        {
            yield return When;
        }

        if (Subject is not null)
        {
            yield return Subject;
        }

        if (Data is not null)
        {
            foreach (var e in Data.Expressions())
            {
                yield return e;
            }
        }
    }
}

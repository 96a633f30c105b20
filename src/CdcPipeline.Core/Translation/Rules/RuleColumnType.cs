namespace CdcPipeline.Core.Translation.Rules;

/// <summary>A column's values as rule expressions see them, and its type as the database names it (<c>character(2)</c>).</summary>
internal readonly record struct RuleColumnType(ValueKinds Kinds, string Name);

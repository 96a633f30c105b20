using CdcPipeline.Core.Translation.Rules;
using Microsoft.CSharp.RuntimeBinder;

namespace CdcPipeline.Core.Pipeline;

/// <summary>
/// Tells a translation failure that is the rules' own verdict on a row (an expression's function refused the value, a
/// column the row does not have, a type the operator cannot take) from a bug in our code, for how the runner logs it: the
/// one without a stack trace, the other with it. Both are dead-lettered alike.
/// </summary>
internal static class TranslationFailures
{
    public static bool IsExpected(Exception error) =>
        error is RuleEvaluationException
        {
            // The rule engine's own checks (key: columns, a table named in the wrong case) carry no cause; what an expression
            // threw is its cause: the rule functions' and row accessors' refusals, the late-bound operators' type errors
            // ("Operator '*' cannot be applied to operands of type 'string' and 'decimal'") and a failed conversion.
            // Anything else under the wrapper (a NullReferenceException…) is a bug and keeps its trace.
            InnerException: null or ExpressionFailure or RuntimeBinderException or FormatException or InvalidCastException or OverflowException,
        };
}

using System.CommandLine;
using System.CommandLine.Parsing;

namespace CdcPipeline.Commands;

/// <summary>Reading an option's value inside a validator, which System.CommandLine runs before it converts the value.</summary>
internal static class ParsedValue
{
    /// <summary>
    /// The option's value, false when its text does not convert (<c>--max x</c> for a number). Reading such a value throws
    /// from inside the parse (an unhandled exception); a validator that gets false adds nothing, and System.CommandLine
    /// then reports the value itself as a usage error (exit 2): "Cannot parse argument 'x' for option '--max' …".
    /// </summary>
    public static bool TryGet<T>(SymbolResult result, Option<T> option, out T? value)
    {
        try
        {
            value = result.GetValue(option);
            return true;
        }
        catch (InvalidOperationException)
        {
            value = default;
            return false;
        }
    }
}

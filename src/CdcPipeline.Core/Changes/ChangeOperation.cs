namespace CdcPipeline.Core.Changes;

/// <summary>Debezium's <c>op</c> codes; the enum value is the code's character.</summary>
public enum ChangeOperation
{
    Create = 'c',
    Update = 'u',
    Delete = 'd',
    /// <summary>A row read by a snapshot.</summary>
    Read = 'r',
    Truncate = 't',
    Message = 'm',
}

public static class ChangeOperationCodes
{
    public static string ToCode(this ChangeOperation op) => op switch
    {
        ChangeOperation.Create => "c",
        ChangeOperation.Update => "u",
        ChangeOperation.Delete => "d",
        ChangeOperation.Read => "r",
        ChangeOperation.Truncate => "t",
        ChangeOperation.Message => "m",
        _ => throw new ArgumentOutOfRangeException(nameof(op), op, "unknown operation"),
    };

    public static bool TryParse(ReadOnlySpan<char> code, out ChangeOperation op)
    {
        op = default;
        if (code.Length != 1)
        {
            return false;
        }

        switch (code[0])
        {
            case 'c': op = ChangeOperation.Create; return true;
            case 'u': op = ChangeOperation.Update; return true;
            case 'd': op = ChangeOperation.Delete; return true;
            case 'r': op = ChangeOperation.Read; return true;
            case 't': op = ChangeOperation.Truncate; return true;
            case 'm': op = ChangeOperation.Message; return true;
            default: return false;
        }
    }
}

using System.Text;

namespace CdcPipeline.Commands;

/// <summary>Plain-text aligned columns (no colours, no box drawing): readable in a terminal, a log and an e-mail.</summary>
internal static class TextTable
{
    public static string Render(IReadOnlyList<string> headers, IEnumerable<IReadOnlyList<string>> rows)
    {
        var all = rows.ToList();
        var widths = headers.Select(h => h.Length).ToArray();
        foreach (var row in all)
        {
            for (var i = 0; i < widths.Length && i < row.Count; i++)
            {
                widths[i] = Math.Max(widths[i], row[i].Length);
            }
        }

        var sb = new StringBuilder();
        AppendRow(sb, headers, widths);
        foreach (var row in all)
        {
            AppendRow(sb, row, widths);
        }

        return sb.ToString();
    }

    private static void AppendRow(StringBuilder sb, IReadOnlyList<string> cells, int[] widths)
    {
        var line = new StringBuilder();
        for (var i = 0; i < cells.Count; i++)
        {
            line.Append(i == cells.Count - 1 ? cells[i] : cells[i].PadRight(widths[i] + 2));
        }

        // no trailing blanks (an empty last column would leave padding behind)
        sb.Append(line.ToString().TrimEnd()).Append('\n');
    }
}

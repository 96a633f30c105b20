using System.Buffers;

namespace CdcPipeline.Commands;

/// <summary>
/// Streams LF- (or CRLF-) terminated lines as UTF-8 bytes without decoding them to strings and
/// without loading the input: a line is valid until the next call.
/// </summary>
internal sealed class LineReader : IDisposable
{
    private readonly Stream _stream;
    private readonly Func<CancellationToken, ValueTask>? _beforeRead;
    private byte[] _buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
    private int _start;
    private int _end;
    private bool _eof;

    /// <param name="beforeRead">called before each read from <paramref name="stream"/>, which may wait for input (a pipe, stdin)</param>
    public LineReader(Stream stream, Func<CancellationToken, ValueTask>? beforeRead = null)
    {
        _stream = stream;
        _beforeRead = beforeRead;
    }

    /// <summary>The next line (without its terminator), or null at the end of the input.</summary>
    public async ValueTask<ReadOnlyMemory<byte>?> ReadLineAsync(CancellationToken cancellationToken)
    {
        var scanFrom = _start;
        while (true)
        {
            var newline = Array.IndexOf(_buffer, (byte)'\n', scanFrom, _end - scanFrom);
            if (newline >= 0)
            {
                var line = _buffer.AsMemory(_start, newline - _start);
                _start = newline + 1;
                return TrimCr(line);
            }

            if (_eof)
            {
                if (_start == _end)
                {
                    return null;
                }

                var last = _buffer.AsMemory(_start, _end - _start);
                _start = _end;
                return TrimCr(last);
            }

            scanFrom = _end;
            if (_start > 0)
            {
                // Move the partial line to the front before reading more.
                Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
                scanFrom -= _start;
                _end -= _start;
                _start = 0;
            }

            if (_end == _buffer.Length)
            {
                var bigger = ArrayPool<byte>.Shared.Rent(_buffer.Length * 2);
                Buffer.BlockCopy(_buffer, 0, bigger, 0, _end);
                ArrayPool<byte>.Shared.Return(_buffer);
                _buffer = bigger;
            }

            if (_beforeRead is not null)
            {
                await _beforeRead(cancellationToken).ConfigureAwait(false);
            }

            var read = await _stream.ReadAsync(_buffer.AsMemory(_end), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                _eof = true;
            }

            _end += read;
        }
    }

    private static ReadOnlyMemory<byte> TrimCr(ReadOnlyMemory<byte> line) =>
        line.Length > 0 && line.Span[^1] == (byte)'\r' ? line[..^1] : line;

    public void Dispose()
    {
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = [];
    }
}

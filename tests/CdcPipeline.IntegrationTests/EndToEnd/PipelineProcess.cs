using System.Diagnostics;
using System.Text;

namespace CdcPipeline.IntegrationTests.EndToEnd;

/// <summary>The real <c>cdcpipeline</c> binary as a child process, so a test can kill -9 it.</summary>
internal sealed class PipelineProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _log = new();

    private PipelineProcess(Process process)
    {
        _process = process;
    }

    public static PipelineProcess Start(params string[] arguments) => Start(new Dictionary<string, string>(), arguments);

    /// <param name="environment">Variables added to this process's environment (e.g. <c>CDC__section__key</c> overrides).</param>
    public static PipelineProcess Start(IReadOnlyDictionary<string, string> environment, params string[] arguments) =>
        Start(environment, workingDirectory: null, arguments);

    /// <summary>Started in <paramref name="workingDirectory"/> (as a systemd unit's WorkingDirectory or a <c>cd</c> before it).</summary>
    public static PipelineProcess StartIn(string workingDirectory, params string[] arguments) =>
        Start(new Dictionary<string, string>(), workingDirectory, arguments);

    private static PipelineProcess Start(IReadOnlyDictionary<string, string> environment, string? workingDirectory, string[] arguments)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? "",
        };
        foreach (var (name, value) in environment)
        {
            info.Environment[name] = value;
        }

        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "cdcpipeline.dll"));
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        var process = Process.Start(info) ?? throw new InvalidOperationException("could not start cdcpipeline");
        var result = new PipelineProcess(process);
        process.ErrorDataReceived += (_, e) => result.Append(e.Data);
        process.OutputDataReceived += (_, e) => result.Append(e.Data);
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        return result;
    }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    public string Log
    {
        get
        {
            lock (_log)
            {
                return _log.ToString();
            }
        }
    }

    /// <summary>Waits for a command that ends by itself; returns its exit code.</summary>
    public async Task<int> ExitCodeAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cts.Token);
        return _process.ExitCode;
    }

    /// <summary>SIGKILL: no flush, no acknowledgement, no goodbye.</summary>
    public void Kill9()
    {
        _process.Kill(entireProcessTree: true);
        _process.WaitForExit();
    }

    /// <summary>
    /// Polls <paramref name="condition"/> every <paramref name="interval"/> until it holds; fails after <paramref name="timeout"/>
    /// with what <paramref name="describe"/> says then (the pipeline's log, and why the condition did not hold).
    /// </summary>
    public static async Task UntilAsync(Func<Task<bool>> condition, TimeSpan timeout, TimeSpan interval, Func<string> describe, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!await condition())
        {
            Xunit.Assert.True(DateTime.UtcNow < deadline, $"condition not reached in {timeout}; {describe()}");
            await Task.Delay(interval, cancellationToken);
        }
    }

    /// <summary>
    /// SIGSTOP: the process stands still where it is (a frozen VM, a node that stopped answering), its sockets open, until
    /// <see cref="Kill9"/> ends it.
    /// </summary>
    public Task FreezeAsync() => SignalAsync("-STOP");

    /// <summary>SIGTERM: the graceful stop; returns the exit code.</summary>
    public async Task<int> TerminateAsync(TimeSpan timeout)
    {
        await SignalAsync("-TERM");
        using var cts = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cts.Token);
        return _process.ExitCode;
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        _process.Dispose();
    }

    private async Task SignalAsync(string signal)
    {
        using var kill = Process.Start("kill", [signal, _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        await kill!.WaitForExitAsync();
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_log)
        {
            _log.AppendLine(line);
        }
    }
}

#if LONGLM_SERVER
using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace LongLM.Tests.Server;

/// <summary>
/// `longlm serve` as a real process: SIGTERM during a streaming request stops it gracefully (the stream ends, the
/// process says it is stopping and exits 0), as llama-server and the issue ask. Expected behaviour: the issue's text.
/// </summary>
public sealed class ServeProcessTests
{
    [Fact]
    public async Task Sigterm_DuringAStream_StopsGracefully_WithExitCodeZero()
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS()) return;
        string host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } h ? h : "dotnet";
        var start = new ProcessStartInfo(host) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false, StandardErrorEncoding = Encoding.UTF8 };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "longlm.dll"), "serve", "--model", ChatFixture.Folder, "--port", "0" })
            start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        try
        {
            var stderr = new StringBuilder();
            string? line;
            Uri? address = null;
            while (address is null && (line = await process.StandardError.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60))) is not null)
            {
                stderr.AppendLine(line);
                if (Regex.Match(line, @"on (http://\S+/)") is { Success: true } m) address = new Uri(m.Groups[1].Value);
            }
            Assert.True(address is not null, stderr.ToString());
            using var http = new HttpClient { BaseAddress = address };
            var request = new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions")
            {
                Content = new StringContent("""{"messages":[{"role":"user","content":"Hi"}],"max_tokens":500,"stream":true}""", Encoding.UTF8, "application/json"),
            };
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            using var body = new StreamReader(await response.Content.ReadAsStreamAsync());
            Assert.StartsWith("data: ", await body.ReadLineAsync());
            using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString()])) await kill!.WaitForExitAsync();
            // The stream ends (cut or completed) rather than hanging.
            var rest = body.ReadToEndAsync();
            Assert.Same(rest, await Task.WhenAny(rest, Task.Delay(TimeSpan.FromSeconds(20))));
            Assert.True(process.WaitForExit(TimeSpan.FromSeconds(20)), "the server did not exit after SIGTERM");
            stderr.Append(await process.StandardError.ReadToEndAsync());
            Assert.Equal(0, process.ExitCode);
            Assert.Contains("longlm: stopping", stderr.ToString(), StringComparison.Ordinal);
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
    }
}
#endif

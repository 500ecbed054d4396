using System.Text;
using LongLM.Runtime;

namespace LongLM.Cli.Commands;

/// <summary>
/// Where generate's prompt comes from: --prompt TEXT, --prompt - (stdin), --prompt-file FILE, or piped stdin when no
/// prompt is given. One source only; text read from a file or stdin is strict UTF-8, at most <see cref="MaxBytes"/>, and
/// loses one trailing newline (as llama.cpp's -f: `echo x |` and a file saved by an editor mean the prompt "x").
/// </summary>
public static class PromptInput
{
    /// <summary>The largest prompt read from a file or stdin: 16 MiB (millions of tokens; score longer texts with ppl).</summary>
    public const int MaxBytes = 16 << 20;

    /// <summary>
    /// The prompt text. <paramref name="prompt"/> and <paramref name="file"/> are the flags as given (null: absent); with
    /// neither, piped stdin is the prompt and a terminal keeps the old meaning, the empty prompt (just BOS).
    /// </summary>
    public static string Resolve(CliIO io, string? prompt, string? file)
    {
        if (prompt is not null && file is not null)
            throw new LongLMException("give one prompt source: --prompt TEXT, --prompt - (stdin) or --prompt-file FILE, not both --prompt and --prompt-file");
        if (file is not null) return ReadFile(file);
        if (prompt == "-") return ReadStdin(io);
        if (prompt is not null) return prompt;
        return io.InRedirected ? ReadStdin(io) : "";
    }

    private static string ReadFile(string path) => TrimNewline(CliIO.ReadTextFile(path, MaxBytes, "prompt file", " (ppl --text scores files of any size)"));

    private static string ReadStdin(CliIO io)
    {
        // Chars, not bytes, are counted here: a UTF-8 byte never makes more than one UTF-16 char, so this bound is looser
        // by at most the multi-byte share and still caps memory at 2 x MaxBytes.
        var text = new StringBuilder();
        var buffer = new char[65536];
        try
        {
            int read;
            while ((read = io.In.Read(buffer, 0, buffer.Length)) > 0)
            {
                if (text.Length + read > MaxBytes)
                    throw new LongLMException($"the prompt on stdin is over {MaxBytes >> 20} MiB; give a shorter one");
                text.Append(buffer, 0, read);
            }
        }
        catch (DecoderFallbackException)
        {
            throw new LongLMException("the prompt on stdin is not valid UTF-8");
        }
        return TrimNewline(text.ToString());
    }

    private static string TrimNewline(string text) =>
        text.EndsWith("\r\n", StringComparison.Ordinal) ? text[..^2] : text.EndsWith('\n') ? text[..^1] : text;
}

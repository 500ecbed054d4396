using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using LongLM.Models;
using LongLM.Runtime;
using LongLM.Runtime.Attention;
using LongLM.Runtime.Inference;
using LongLM.Runtime.Sampling;

namespace LongLM.Cli.Commands;

/// <summary>`longlm generate`: stream a continuation of a prompt.</summary>
public static class GenerateCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create(CliIO io)
    {
        var model = CommonOptions.Model();
        var backend = CommonOptions.Backend();
        var prompt = new Option<string?>("--prompt", "-p") { Description = "Prompt text (BOS is added as the tokenizer says; empty means just BOS); - reads it from stdin. Default: piped stdin, else empty" };
        var promptFile = new Option<string?>("--prompt-file", "-f") { Description = $"Read the prompt from a UTF-8 file (at most {PromptInput.MaxBytes >> 20} MiB; one trailing newline is dropped)" };
        var json = CommonOptions.Json("Print one JSON object {prompt_ids, ids, text} instead of streaming text");
        var prefillChunk = CommonOptions.PrefillChunk();
        var checkWeights = CommonOptions.CheckWeights();
        var threads = CommonOptions.Threads();
        var timings = CommonOptions.Timings();
        var command = new Command("generate", "Generate text from a prompt")
            { model, backend, prompt, promptFile, json, prefillChunk, checkWeights, threads, timings };
        var sampling = new SamplingFlags(command);
        var attention = new AttentionFlags(command, topKAlias: false);
        command.SetAction(parse => io.Guard(() =>
        {
            long start = Stopwatch.GetTimestamp();
            string text = PromptInput.Resolve(io, parse.GetValue(prompt), parse.GetValue(promptFile));
            long loadStart = Stopwatch.GetTimestamp();
            using var loaded = io.LoadModel(parse.GetValue(model)!, parse.GetValue(backend)!, attention.Single(parse) with { CheckWeights = parse.GetValue(checkWeights) }, parse.GetValue(threads));
            double loadMs = PerfReport.Ms(loadStart, Stopwatch.GetTimestamp());
            var lm = loaded.Model;
            var options = sampling.Options(parse, lm, parse.GetValue(prefillChunk));
            var promptIds = lm.Tokenizer.Encode(text);
            if (promptIds.Length == 0)
                throw new LongLMException("the prompt is empty and this tokenizer adds no BOS token: give a prompt");
            using var session = lm.CreateSession();
            var timed = new TimedGeneration(io, session, promptIds, options);
            // Stop strings are text: the ids are decoded as they come and cut before the first stop string.
            var decoder = lm.Tokenizer.CreateStreamingDecoder();
            var stops = new StopSequenceMatcher(options.StopSequences);
            var ids = new List<int>();
            var output = new System.Text.StringBuilder();
            bool streaming = !parse.GetValue(json);
            foreach (int id in timed)
            {
                ids.Add(id);
                string piece = stops.Push(decoder.Push(id));
                output.Append(piece);
                if (streaming)
                {
                    io.Out.Write(piece);
                    io.Out.Flush();
                }
                if (stops.Matched is not null) break;
            }
            string rest = stops.Matched is null ? stops.Push(decoder.Flush()) + stops.Flush() : "";
            output.Append(rest);
            string finish = stops.Matched is not null ? "stop_string" : ids.Count >= options.MaxTokens ? "length" : "stop";
            if (streaming) io.Out.WriteLine(rest);
            else io.Out.WriteLine(JsonSerializer.Serialize(new { prompt_ids = promptIds, ids, text = output.ToString(), finish_reason = finish }));
            if (parse.GetValue(timings))
            {
                PerfReport.Load(io, loadMs);
                PerfReport.PromptEval(io, timed.PrefillMs, promptIds.Length);
                PerfReport.Eval(io, timed.DecodeMs, timed.DecodeRuns);
                PerfReport.Total(io, PerfReport.Ms(start, Stopwatch.GetTimestamp()), promptIds.Length + timed.DecodeRuns);
            }
            return ExitCodes.Ok;
        }));
        return command;
    }
}

/// <summary>
/// A session's generation, timed for --timings with a spinner on long prefills. The prompt is one logical forward call
/// with no progress hook, so the spinner shows elapsed time only. Prefill is the time to the first token (the
/// Generate call and the first step, which samples from the prompt's logits); decode is the time spent in every later
/// step (one forward of the previous token plus its sampling), not the time spent printing.
/// </summary>
internal sealed class TimedGeneration(CliIO io, InferenceSession session, int[] promptIds, GenerationOptions options) : IEnumerable<int>
{
    /// <summary>Milliseconds to the first token: the prompt's forward call.</summary>
    public double PrefillMs { get; private set; }

    /// <summary>Milliseconds in the later steps.</summary>
    public double DecodeMs { get; private set; }

    /// <summary>Decode forwards run (tokens fed back; the last token at --max-tokens is returned, not run).</summary>
    public long DecodeRuns { get; private set; }

    public IEnumerator<int> GetEnumerator()
    {
        long start = Stopwatch.GetTimestamp();
        IEnumerator<int> tokens;
        bool more;
        using (ProgressDisplay.Spinner(io, $"prefill of {promptIds.Length} tokens"))
        {
            tokens = session.Generate(promptIds, options).GetEnumerator();
            more = tokens.MoveNext();
        }
        long afterPrefill = Stopwatch.GetTimestamp();
        PrefillMs = PerfReport.Ms(start, afterPrefill);
        // The session's history counts every token run: what it gains from here on is the decode forwards.
        long ranBefore = session.History.Total;
        using (tokens)
        {
            while (more)
            {
                yield return tokens.Current;
                long step = Stopwatch.GetTimestamp();
                more = tokens.MoveNext();
                DecodeMs += PerfReport.Ms(step, Stopwatch.GetTimestamp());
            }
        }
        DecodeRuns = session.History.Total - ranBefore;
    }

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
}

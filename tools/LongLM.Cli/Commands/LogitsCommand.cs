using System.CommandLine;
using System.Text.Json;
using LongLM.Models;
using LongLM.Runtime;
using LongLM.Runtime.Attention;

namespace LongLM.Cli.Commands;

/// <summary>`longlm logits`: float32 logits for every position, as JSON.</summary>
public static class LogitsCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create(CliIO io)
    {
        var model = CommonOptions.Model();
        var backend = CommonOptions.Backend();
        var prompt = new Option<string?>("--prompt", "-p") { Description = "Prompt text (BOS added as the tokenizer says)" };
        var ids = new Option<string?>("--ids") { Description = "Comma-separated token ids, used exactly as given (no BOS added)" };
        var output = new Option<string>("--out", "-o") { Description = "Output JSON file {ids, logits}", Required = true };
        var prefillChunk = CommonOptions.PrefillChunk();
        var checkWeights = CommonOptions.CheckWeights();
        var threads = CommonOptions.Threads();
        var command = new Command("logits", "Write the logits of every position to a JSON file (one forward call, as HF's model(input_ids).logits)")
            { model, backend, prompt, ids, output, prefillChunk, checkWeights, threads };
        var attention = new AttentionFlags(command, topKAlias: true);
        command.SetAction(parse => io.Guard(() =>
        {
            string? promptText = parse.GetValue(prompt), idText = parse.GetValue(ids);
            if ((promptText is null) == (idText is null)) throw new LongLMException("give exactly one of --prompt or --ids");
            using var loaded = io.LoadModel(parse.GetValue(model)!, parse.GetValue(backend)!, attention.Single(parse) with { CheckWeights = parse.GetValue(checkWeights) }, parse.GetValue(threads));
            var lm = loaded.Model;
            int[] tokens = idText is not null ? TokenIds.Parse(idText) : lm.Tokenizer.Encode(promptText!);
            if (tokens.Length == 0) throw new LongLMException("the prompt encodes to no tokens");
            // Truncate baseline: the model sees only the last L tokens, so only they are run (and reported).
            if (lm.Model.Policy.Mode == AttentionMode.Truncate && tokens.Length > lm.Model.Policy.Window)
                tokens = tokens[^lm.Model.Policy.Window..];
            float[] logits = lm.Logits(tokens, parse.GetValue(prefillChunk));
            int vocab = lm.Config.VocabSize;
            using var stream = File.Create(parse.GetValue(output)!);
            using var writer = new Utf8JsonWriter(stream);
            writer.WriteStartObject();
            writer.WriteStartArray("ids");
            foreach (int id in tokens) writer.WriteNumberValue(id);
            writer.WriteEndArray();
            writer.WriteStartArray("logits");
            for (int r = 0; r < tokens.Length; r++)
            {
                writer.WriteStartArray();
                for (int v = 0; v < vocab; v++) writer.WriteNumberValue(logits[(long)r * vocab + v]);
                writer.WriteEndArray();
            }
            writer.WriteEndArray();
            writer.WriteEndObject();
            return ExitCodes.Ok;
        }));
        return command;
    }
}

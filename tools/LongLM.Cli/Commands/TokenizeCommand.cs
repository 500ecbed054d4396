using System.CommandLine;
using System.Text.Json;
using LongLM.Runtime;
using LongLM.Runtime.Tokenization;

namespace LongLM.Cli.Commands;

/// <summary>`longlm tokenize`: text to ids with the model's tokenizer.</summary>
public static class TokenizeCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create(CliIO io)
    {
        var model = CommonOptions.Model();
        var text = new Option<string?>("--text", "-t") { Description = "Text to tokenize" };
        var file = new Option<string?>("--file", "-f") { Description = "UTF-8 file to tokenize" };
        var noBos = new Option<bool>("--no-bos") { Description = "Do not add BOS even if the tokenizer would" };
        var json = CommonOptions.Json("Print {\"ids\":[...]}");
        var command = new Command("tokenize", "Print the token ids of a text") { model, text, file, noBos, json };
        command.SetAction(parse => io.Guard(() =>
        {
            string? t = parse.GetValue(text), f = parse.GetValue(file);
            if ((t is null) == (f is null)) throw new LongLMException("give exactly one of --text or --file");
            string dir = parse.GetValue(model)!;
            if (!Directory.Exists(dir)) throw new LongLMException($"{dir}: model folder not found", dir);
            var tokenizer = ModelTokenizer.Load(dir);
            string input = t ?? File.ReadAllText(f!);
            int[] ids = parse.GetValue(noBos) ? tokenizer.Encode(input, addBos: false) : tokenizer.Encode(input);
            io.Out.WriteLine(parse.GetValue(json) ? JsonSerializer.Serialize(new { ids }) : string.Join(' ', ids));
            return ExitCodes.Ok;
        }));
        return command;
    }
}

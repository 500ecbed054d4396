// Hello, LongLM: load a Hugging Face model folder and continue a prompt greedily on the CPU.
// Usage: HelloLongLM MODEL_DIR [PROMPT] [--tokens N] [--backend NAME]
// Prints the continuation, then one line "ids: ..." with the generated token ids. Errors: one line, exit code 2.
using LongLM.Models;
using LongLM.Runtime;
using LongLM.Runtime.Inference;
using LongLM.Runtime.Sampling;

string? modelDir = null, prompt = null, backend = "cpu";
int tokens = 20;
for (int i = 0; i < args.Length; i++)
{
    if (args[i] == "--tokens" && i + 1 < args.Length && int.TryParse(args[i + 1], out tokens)) i++;
    else if (args[i] == "--backend" && i + 1 < args.Length) backend = args[++i];
    else if (modelDir is null) modelDir = args[i];
    else if (prompt is null) prompt = args[i];
    else return Usage($"unexpected argument '{args[i]}'");
}
if (modelDir is null) return Usage("give a model folder");

try
{
    // The example of README.md ("Use it as a library"), with the backend, prompt and token count from the command line.
    using var model = LanguageModel.Load(modelDir, backend);
    using var session = model.CreateSession();
    var options = new GenerationOptions { MaxTokens = tokens, Sampling = SamplingOptions.Greedy };
    int[] ids = session.Generate(model.Tokenizer.Encode(prompt ?? "Once upon a time"), options).ToArray();
    Console.WriteLine(model.Tokenizer.Decode(ids));
    Console.WriteLine("ids: " + string.Join(' ', ids));
    return 0;
}
catch (LongLMException e)
{
    Console.Error.WriteLine("error: " + e.Message);
    return 2;
}

static int Usage(string problem)
{
    Console.Error.WriteLine($"error: {problem}\nusage: HelloLongLM MODEL_DIR [PROMPT] [--tokens N] [--backend NAME]");
    return 2;
}

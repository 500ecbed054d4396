using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using LongLM.Runtime;
using LongLM.Runtime.Chat;

namespace LongLM.Cli.Commands;

/// <summary>`longlm chat-template`: the prompt a model's chat template makes of a conversation (no weights are read).</summary>
public static class ChatTemplateCommand
{
    /// <summary>The largest --messages or --tools file read.</summary>
    private const long MaxJsonBytes = 64L * 1024 * 1024;

    /// <summary>Builds the command.</summary>
    public static Command Create(CliIO io)
    {
        var model = new Option<string>("--model", "-m") { Description = "Model folder with tokenizer_config.json (and chat_template.jinja); weights are not needed", Required = true };
        var messages = new Option<string>("--messages") { Description = "JSON file: the list of messages ({\"role\", \"content\", ...})", Required = true };
        var tools = new Option<string?>("--tools") { Description = "JSON file: the list of tool definitions, passed as `tools`" };
        var generationPrompt = new Option<bool>("--add-generation-prompt") { Description = "End with the assistant's turn header (add_generation_prompt=True)" };
        var templateName = new Option<string?>("--template") { Description = "Template name (default: tool_use when --tools is given and the model has it, else default)" };
        var command = new Command("chat-template", "Print the prompt the model's chat template renders for a conversation, exactly")
        {
            model, messages, tools, generationPrompt, templateName,
        };
        command.SetAction(parse => io.Guard(() =>
        {
            string dir = parse.GetValue(model)!;
            if (!Directory.Exists(dir)) throw new LongLMException($"{dir}: model folder not found", dir);
            var templates = ChatTemplates.Load(dir)
                ?? throw new LongLMException($"{dir}: the model has no chat template (no chat_template in tokenizer_config.json, no {ChatTemplates.TemplateFile})", dir);
            var messageList = ReadArray(parse.GetValue(messages)!, "--messages");
            string? toolsFile = parse.GetValue(tools);
            var toolList = toolsFile is null ? null : ReadArray(toolsFile, "--tools");
            var template = templates.Select(parse.GetValue(templateName), toolList is not null);
            string prompt = template.Render(new ChatTemplateInput
            {
                Messages = messageList,
                Tools = toolList,
                AddGenerationPrompt = parse.GetValue(generationPrompt),
                Variables = templates.SpecialTokens,
            });
            io.Out.Write(prompt);
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static JsonArray ReadArray(string path, string option)
    {
        if (!File.Exists(path)) throw new LongLMException($"{option} {path}: file not found", path);
        long length = new FileInfo(path).Length;
        if (length > MaxJsonBytes) throw new LongLMException($"{option} {path}: {length} bytes; at most {MaxJsonBytes} are read", path);
        byte[] data = File.ReadAllBytes(path);
        if (!System.Text.Unicode.Utf8.IsValid(data)) throw new LongLMException($"{option} {path}: not valid UTF-8", path);
        try
        {
            return JsonNode.Parse(data) as JsonArray
                ?? throw new LongLMException($"{option} {path}: expected a JSON list", path);
        }
        catch (JsonException e)
        {
            throw new LongLMException($"{option} {path}: not valid JSON: {e.Message}", path, e);
        }
    }
}

#include "apps/zoo/model_docs.h"

#include <algorithm>
#include <cstdio>
#include <map>

#include "apps/zoo/cli.h"

namespace zoo::cli {

namespace {

std::string markdown_cell(std::string text) {
  std::string out;
  for (char c : text) out += c == '|' ? std::string("\\|") : std::string(1, c);
  return out;
}

std::string join(const std::vector<std::string>& items, const std::string& separator) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : separator) + item;
  return out;
}

// The models' defaults of one option: the most common value, then the others with their models
// ("1000 (resnet18_cifar: 10)"), or "per model" when they are many.
std::string defaults_cell(const std::vector<std::pair<std::string, std::string>>& model_values) {
  std::vector<std::pair<std::string, std::vector<std::string>>> groups;  // value -> models, in order of appearance
  for (const auto& [model, value] : model_values) {
    auto it = std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == value; });
    if (it == groups.end()) groups.push_back({value, {model}});
    else it->second.push_back(model);
  }
  if (groups.size() > 3) return "per model";
  std::stable_sort(groups.begin(), groups.end(), [](const auto& a, const auto& b) { return a.second.size() > b.second.size(); });
  std::string out = groups[0].first;
  std::vector<std::string> others;
  for (size_t i = 1; i < groups.size(); ++i) others.push_back(join(groups[i].second, ", ") + ": " + groups[i].first);
  if (!others.empty()) out += " (" + join(others, "; ") + ")";
  return out;
}

}  // namespace

std::string value_text(const Json& value) {
  if (value.is_string()) return value.get<std::string>().empty() ? "\"\"" : value.get<std::string>();
  if (value.is_array()) {
    std::string out;
    for (const auto& item : value) out += (out.empty() ? "" : ",") + value_text(item);
    return out;
  }
  return value.dump();
}

std::string recipe_text(const Recipe& recipe) {
  std::string out;
  for (const char* key : {"opt", "lr", "momentum", "weight_decay", "sched", "warmup_fraction", "min_lr", "clip_grad", "batch_size"}) {
    if (!recipe.contains(key)) continue;
    out += (out.empty() ? "" : " ") + flag_of(key) + " " + value_text(recipe.at(key));
  }
  return out;
}

std::string option_values_text(const OptionInfo& option) {
  const std::string allowed = option.allowed.text();
  switch (option.type) {
    case OptionType::Bool: return "true or false";
    case OptionType::String: return allowed.empty() ? "text" : allowed;
    case OptionType::Int: return allowed.empty() ? "integer" : (option.allowed.min && option.allowed.max ? "integer in " : "integer, ") + allowed;
    case OptionType::Float: return allowed.empty() ? "number" : (option.allowed.min && option.allowed.max ? "number in " : "number, ") + allowed;
    case OptionType::Ints: return allowed.empty() ? "integers a,b,..." : "integers a,b,..., each " + allowed;
    case OptionType::Floats: return allowed.empty() ? "numbers a,b,..." : "numbers a,b,..., each " + allowed;
  }
  return "";
}

std::string model_details_text(const ModelSpec& model) {
  std::string out = model.name + " (task " + model.task + ", models/" + model.family + "): " + model.description + "\n";
  char count[64];
  std::snprintf(count, sizeof(count), "%lld", static_cast<long long>(model.params));
  out += std::string(count) + " parameters at these defaults\ntraining recipe (any flag overrides its part): " + recipe_text(model.recipe) +
         "\n\noptions (--set key=value):\n";
  size_t name_width = 0, values_width = 0, default_width = 0;
  for (const auto& part : model.options.parts())
    for (const auto& o : part.options) {
      name_width = std::max(name_width, o.name.size());
      values_width = std::max(values_width, option_values_text(o).size());
      default_width = std::max(default_width, value_text(o.default_value).size());
    }
  for (const auto& part : model.options.parts()) {
    out += "  " + part.title + ":\n";
    for (const auto& o : part.options) {
      char line[512];
      std::snprintf(line, sizeof(line), "    %-*s  %-*s  %-*s  ", static_cast<int>(name_width), o.name.c_str(), static_cast<int>(values_width),
                    option_values_text(o).c_str(), static_cast<int>(default_width), value_text(o.default_value).c_str());
      out += line + o.help + "\n";
    }
  }
  return out;
}

std::string options_markdown(const Registry& registry) {
  std::vector<std::string> tasks;
  for (const auto* m : registry.models())
    if (std::find(tasks.begin(), tasks.end(), m->task) == tasks.end()) tasks.push_back(m->task);
  std::string out;
  for (const auto& task : tasks) {
    const auto models = registry.models(task);
    out += "### Task `" + task + "`\n\n";
    // The training recipes, each with the models that train with it.
    std::vector<std::pair<std::string, std::vector<std::string>>> recipes;
    for (const auto* m : models) {
      const std::string text = recipe_text(m->recipe);
      auto it = std::find_if(recipes.begin(), recipes.end(), [&](const auto& r) { return r.first == text; });
      if (it == recipes.end()) recipes.push_back({text, {"`" + m->name + "`"}});
      else it->second.push_back("`" + m->name + "`");
    }
    out += "| training recipe (flags override it) | models |\n|---|---|\n";
    for (const auto& [text, names] : recipes) out += "| `" + text + "` | " + join(names, ", ") + " |\n";
    std::vector<std::string> titles;
    for (const auto* m : models)
      for (const auto& part : m->options.parts())
        if (std::find(titles.begin(), titles.end(), part.title) == titles.end()) titles.push_back(part.title);
    for (const auto& title : titles) {
      // The models whose options include this declaration, and its options in their order.
      std::vector<std::string> holders, names;
      std::map<std::string, std::vector<std::pair<std::string, std::string>>> defaults;
      std::map<std::string, const OptionInfo*> infos;
      for (const auto* m : models)
        for (const auto& part : m->options.parts()) {
          if (part.title != title) continue;
          holders.push_back(m->name);
          for (const auto& o : part.options) {
            if (!infos.count(o.name)) names.push_back(o.name), infos[o.name] = &o;
            defaults[o.name].push_back({m->name, value_text(o.default_value)});
          }
        }
      std::vector<std::string> quoted;
      for (const auto& h : holders) quoted.push_back("`" + h + "`");
      out += "\n#### " + title + ": " + (holders.size() == models.size() ? "every " + task + " model" : join(quoted, ", ")) + "\n\n";
      out += "| option | values | default | meaning |\n|---|---|---|---|\n";
      for (const auto& name : names) {
        const auto& values = defaults.at(name);
        std::string option = "`" + name + "`";
        if (values.size() < holders.size()) {
          std::vector<std::string> which;
          for (const auto& [model, value] : values) which.push_back(model);
          option += " (" + join(which, ", ") + ")";
        }
        out += "| " + option + " | " + markdown_cell(option_values_text(*infos.at(name))) + " | " + markdown_cell(defaults_cell(values)) + " | " +
               markdown_cell(infos.at(name)->help) + " |\n";
      }
    }
    out += "\n";
  }
  // Tasks whose models wrap another task's: their own options and recipe.
  for (const auto& w : registry.wrappers()) {
    out += "### Task `" + w.task + "`\n\n" + w.description + ": every `" + w.wrapped_task + "` model, under its name and with its options (above), " +
           "takes these as well.\n\n| training recipe (flags override it) | models |\n|---|---|\n| `" + recipe_text(w.recipe) + "` | every `" +
           w.wrapped_task + "` model |\n";
    for (const auto& part : w.options.parts()) {
      out += "\n#### " + part.title + "\n\n| option | values | default | meaning |\n|---|---|---|---|\n";
      for (const auto& o : part.options)
        out += "| `" + o.name + "` | " + markdown_cell(option_values_text(o)) + " | " + markdown_cell(value_text(o.default_value)) + " | " +
               markdown_cell(o.help) + " |\n";
    }
    out += "\n";
  }
  return out;
}

}  // namespace zoo::cli

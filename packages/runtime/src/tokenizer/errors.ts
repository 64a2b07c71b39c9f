export { ChatTemplateError } from "../errors.ts";

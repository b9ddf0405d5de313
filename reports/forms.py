from django import forms

MAX_VERIFY_BYTES = 50 * 1024 * 1024


class VerifyForm(forms.Form):
    file = forms.FileField(label="Report PDF", help_text="The signed PDF to check (up to 50 MB).")

    def clean_file(self):
        f = self.cleaned_data["file"]
        if f.size > MAX_VERIFY_BYTES:
            raise forms.ValidationError("That file is larger than 50 MB; no aigsec report is.")
        if f.size == 0:
            raise forms.ValidationError("The file is empty.")
        return f

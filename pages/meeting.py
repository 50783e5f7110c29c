"""meeting page (being built)."""
import streamlit as st

st.title("meeting")
st.info("This page is being built.")
